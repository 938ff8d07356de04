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

#if ENABLE_MOCKING  // the seam exists in debug builds only
@Suite("Device wrapper at the mocking seam")
struct MockedDeviceTests {
    // Any open file will do: the seam answers before the kernel does.
    let device: MempinDevice

    init() throws {
        device = try MempinDevice(path: "/dev/null")
    }

    @Test("a forced ENOMEM reaches the caller as Errno.noMemory")
    func forcedNoMemory() {
        MockingDriver.withMockingEnabled { driver in
            driver.forceErrno(.noMemory)
            #expect(throws: Errno.noMemory) {
                _ = try device.pin(PinRequest(pid: 1, address: 0x1000, length: 4096, requesterUID: 0,
                                              requesterGID: 0, requesterPID: 1, requesterIsRoot: true))
            }
            #expect(driver.trace.count == 1)
        }
    }

    @Test("EINTR is retried; the retry reaches the kernel")
    func interruptedIsRetried() {
        MockingDriver.withMockingEnabled { driver in
            driver.forceErrno(.interrupted, times: 2)
            // /dev/null has no ioctls: the third call gets the kernel's ENOTTY.
            #expect(throws: Errno.inappropriateIOCTLForDevice) { try device.unpin(id: 1) }
            #expect(driver.trace.count == 3)
        }
    }

    @Test("each ioctl goes through the seam with its own request number")
    func requestNumbers() {
        MockingDriver.withMockingEnabled { driver in
            driver.forceErrno(.noSuchFileOrDirectory, times: 3)
            _ = try? device.list()
            _ = try? device.pages(of: 1, from: 0, count: 16)
            _ = try? device.pinOwnMemory(address: 0x1000, size: 4096)
            #expect(Set(driver.trace).count == 3)
        }
    }
}
#endif
