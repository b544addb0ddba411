#if canImport(Glibc)
import Glibc
#endif

/// Raises the test process's soft descriptor limit (to 8,192, or the hard limit if lower) — once,
/// before the first process any test starts. Thousands of connections in the test process (and
/// in the daemons, which inherit the limit) need more descriptors than some shells allow.
///
/// Once only, because Foundation's `Process.run` reads the limit while it spawns: a limit raised
/// by one test while another was starting a daemon crashed the test process. Every way the tests
/// start a process calls this first (``DaemonProcess``, `run`), and after the first call the limit
/// never changes.
public func raiseDescriptorLimit() {
    _ = descriptorLimitRaised
}

private let descriptorLimitRaised: Void = {
    let wanted: rlim_t = 8_192
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < wanted else { return }
    limit.rlim_cur = min(wanted, limit.rlim_max)
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}()
