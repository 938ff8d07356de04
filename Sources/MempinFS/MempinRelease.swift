/// mempin's release, the same for the server, the module
/// (`MODULE_VERSION`, `kernel/dkms.conf`) and the Debian packages
/// (`debian/changelog`); `mount-scripts/lint` checks that they agree.
public enum MempinRelease {
    /// The release, as `mempinfs --version` prints it.
    public static let version = "0.4.0"
}
