// The one place MempinDevice calls into the system. Each call goes through
// a `system_` function whose only logic is the mocking seam, so tests can
// force errnos (debug builds only).
import CMempin
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

internal func system_ioctl(_ fd: CInt, _ request: UInt, _ arg: UnsafeMutableRawPointer?) -> CInt {
    #if ENABLE_MOCKING
    if let driver = MockingDriver.current, let forced = driver.intercept(.ioctl(request: request)) {
        errno = forced.rawValue
        return -1
    }
    #endif
    return CMempin_ioctl(fd, request, arg)
}

/// Runs `body` until it does not fail with EINTR (when asked), turning -1
/// into the errno it left.
internal func valueOrErrno(retryOnInterrupt: Bool = true, _ body: () -> CInt) -> Result<CInt, Errno> {
    while true {
        let result = body()
        if result != -1 { return .success(result) }
        let error = Errno(rawValue: errno)
        if retryOnInterrupt && error == .interrupted { continue }
        return .failure(error)
    }
}
