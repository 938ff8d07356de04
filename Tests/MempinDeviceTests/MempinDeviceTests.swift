@testable import MempinDevice
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Device wrapper")
struct MempinDeviceTests {
    @Test("retries EINTR and reports other errnos")
    func retriesInterrupt() throws {
        var calls = 0
        let result = valueOrErrno {
            calls += 1
            if calls < 3 {
                errno = Errno.interrupted.rawValue
                return -1
            }
            return 7
        }
        #expect(calls == 3)
        #expect(try result.get() == 7)
    }
}
