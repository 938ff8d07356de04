#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts one of the server's own threads running `body`. The signals
/// libfuse handles go to its loop, never to this thread: it starts with
/// them blocked, as libfuse's own workers do.
///
/// - Returns: the thread, to join or detach; nil if it could not start.
func startServerThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    final class Start: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Start(body)).toOpaque()
    var blocked = sigset_t(), previous = sigset_t()
    sigemptyset(&blocked)
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&blocked, signal) }
    pthread_sigmask(SIG_BLOCK, &blocked, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    let created = pthread_create(&thread, nil, { context in
        Unmanaged<Start>.fromOpaque(context!).takeRetainedValue().body()
        return nil
    }, context)
    guard created == 0 else {
        Unmanaged<Start>.fromOpaque(context).release()
        return nil
    }
    return thread
}
