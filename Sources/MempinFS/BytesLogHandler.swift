import Logging

/// A log handler that also takes a message already made as bytes, for the
/// lines the server logs for every pin and every unpin.
///
/// Through swift-log's `log(level:_:source:)`, such a line went as a
/// message string, an event and their copies and destruction: 3,934
/// instructions a line, three quarters of them not the line's own making
/// (`mount-scripts/profile log`). Under the test VM's emulation the server
/// runs at about 5 ns an instruction, so a one-page pin and its `rm` paid
/// some 40 µs for their two lines.
package protocol BytesLogHandler: LogHandler {
    /// Logs `message` at `level` as `log(event:)` logs an event with that
    /// message and no metadata of its own. The caller has checked the level.
    func log(level: Logger.Level, message: UnsafeBufferPointer<UInt8>)
}
