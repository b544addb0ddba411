import Foundation

/// The configuration file samples the tests check: a valid base for the six tenants, and one
/// broken variant per kind of mistake with what the message must name. `SubsidyServerTests` runs
/// every mistake through the configuration loader in-process; the real-daemon suite runs
/// `subsidyd --check-config` on the base and on one of them (the binary's exit status and stderr).
public enum ConfigurationSamples {
    public static let valid = """
        data_dir = "/var/lib/subsidyd-test"
        runtime_dir = "/run/subsidyd-test"

        [limits]
        frame_deadline_ms = 5_000
        request_burst = 100

        [district.chancheng]
        display_name = "禅城区"
        socket = "district/chancheng.sock"
        socket_mode = "0660"
        socket_group = 0
        allowed_gids = [0]

        [district.nanhai]
        display_name = "南海区"
        socket = "district/nanhai.sock"
        allowed_uids = ["root", 1001]

        [district.shunde]
        display_name = "顺德区"
        socket = "district/shunde.sock"
        allowed_uids = [0]

        [district.gaoming]
        display_name = "高明区"
        socket = "/run/subsidyd-test/district/gaoming.sock"
        allowed_uids = [0]

        [district.sanshui]
        display_name = "三水区"
        socket = "district/sanshui.sock"
        allowed_uids = [0]

        [city]
        display_name = "佛山市"
        socket = "city.sock"
        socket_mode = "0600"
        allowed_uids = [0]

        """

    public static func replacing(_ old: String, with new: String) -> String {
        precondition(valid.contains(old), "the base configuration has no \(old)")
        return valid.replacingOccurrences(of: old, with: new)
    }

    /// One row per kind of mistake: the broken text and what the message must name.
    public static let mistakes: [(String, String, String)] = [
        ("missing district", replacing("[district.sanshui]\ndisplay_name = \"三水区\"\nsocket = \"district/sanshui.sock\"\nallowed_uids = [0]\n", with: ""), "district.sanshui: missing table"),
        ("unknown district", replacing("[district.sanshui]", with: "[district.foshan]"), "district.foshan: unknown district"),
        ("missing city", replacing("[city]", with: "[citty]"), "citty: unknown table"),
        ("duplicate socket", replacing("socket = \"district/shunde.sock\"", with: "socket = \"district/nanhai.sock\""), ":22: district.shunde.socket: /run/subsidyd-test/district/nanhai.sock is already the socket of [district.nanhai]"),
        ("socket path too long", replacing("socket = \"city.sock\"", with: "socket = \"/tmp/" + String(repeating: "x", count: 110) + ".sock\""), "city.socket: "),
        ("socket directory too long for staging", replacing("socket = \"city.sock\"", with: "socket = \"/tmp/" + String(repeating: "d", count: 95) + "/c.sock\""), "city.socket: the directory of"),
        ("world-writable socket", replacing("socket_mode = \"0660\"", with: "socket_mode = \"0666\""), ":11: district.chancheng.socket_mode: must not be world-writable"),
        ("mode not octal", replacing("socket_mode = \"0600\"", with: "socket_mode = \"rw-------\""), "city.socket_mode: must be an octal mode"),
        ("mode as a decimal integer", replacing("socket_mode = \"0600\"", with: "socket_mode = 600"), "city.socket_mode: must be a string"),
        ("mode unquoted", replacing("socket_mode = \"0600\"", with: "socket_mode = 0600"), "'0600': leading zeros are not allowed (a mode is a quoted string: \"0600\")"),
        ("setuid bit", replacing("socket_mode = \"0600\"", with: "socket_mode = \"4600\""), "city.socket_mode: setuid"),
        ("nobody allowed", replacing("socket_mode = \"0600\"\nallowed_uids = [0]", with: "socket_mode = \"0600\"\nallowed_uids = []"), "city.allowed_uids: at least one allowed uid or gid"),
        ("unknown group", replacing("socket_group = 0", with: "socket_group = \"no-such-group-h4\""), "district.chancheng.socket_group: unknown group"),
        ("uid out of range", replacing("allowed_uids = [\"root\", 1001]", with: "allowed_uids = [4294967295]"), "district.nanhai.allowed_uids: 4294967295 is not a valid user id"),
        ("zero limit", replacing("request_burst = 100", with: "request_burst = 0"), ":6: limits.request_burst: must be > 0"),
        ("negative limit", replacing("frame_deadline_ms = 5_000", with: "frame_deadline_ms = -1"), "limits.frame_deadline_ms: must be > 0"),
        ("limit of the wrong type", replacing("frame_deadline_ms = 5_000", with: "frame_deadline_ms = \"5s\""), "limits.frame_deadline_ms: must be an integer"),
        ("misspelt limit", replacing("request_burst = 100", with: "request_brust = 100"), "limits.request_brust: unknown key"),
        ("per-uid above total", replacing("request_burst = 100", with: "max_connections = 10\nmax_connections_per_uid = 20"), "limits.max_connections_per_uid: max_connections_per_uid (20) exceeds max_connections (10)"),
        ("per-tenant leaves no room for the sixth tenant", replacing("request_burst = 100", with: "max_connections = 10\nmax_connections_per_tenant = 2"), "limits.max_connections_per_tenant: 5 × max_connections_per_tenant (2) must be below max_connections (10)"),
        ("no store calls", replacing("request_burst = 100", with: "max_concurrent_store_calls_per_tenant = 0"), "limits.max_concurrent_store_calls_per_tenant: must be > 0"),
        ("negative compute turns", replacing("request_burst = 100", with: "max_concurrent_compute_per_tenant = -1"), "limits.max_concurrent_compute_per_tenant"),
        ("tenant budget below a connection's", replacing("request_burst = 100", with: "max_queued_bytes_per_connection = 2_000\nmax_queued_bytes_per_tenant = 1_000"), "limits.max_queued_bytes_per_tenant: max_queued_bytes_per_tenant (1000) must be at least max_queued_bytes_per_connection (2000)"),
        ("no queued bytes", replacing("request_burst = 100", with: "max_queued_bytes_per_connection = 0"), "limits.max_queued_bytes_per_connection: must be > 0"),
        ("no district file", replacing("request_burst = 100", with: "max_district_file_bytes = 0"), "limits.max_district_file_bytes: must be > 0"),
        ("no search scan", replacing("request_burst = 100", with: "search_scan_rows = 0"), "limits.search_scan_rows: must be > 0"),
        ("negative disk reserve", replacing("request_burst = 100", with: "min_free_disk_bytes = -1"), "limits.min_free_disk_bytes: must be between 0 and 1125899906842624 (got -1)"),
        ("relative data_dir", replacing("data_dir = \"/var/lib/subsidyd-test\"", with: "data_dir = \"var/lib\""), ":1: data_dir: must be an absolute path"),
        ("group-writable runtime_dir_mode", replacing("runtime_dir = \"/run/subsidyd-test\"", with: "runtime_dir = \"/run/subsidyd-test\"\nruntime_dir_mode = \"0775\""), "runtime_dir_mode: must not be writable by group or others"),
        ("missing runtime_dir", replacing("runtime_dir = \"/run/subsidyd-test\"", with: ""), "runtime_dir: missing key"),
        ("syntax error", replacing("data_dir = \"/var/lib/subsidyd-test\"", with: "data_dir = /var/lib"), ":1: data_dir: expected a value"),
        ("missing display name", replacing("display_name = \"佛山市\"", with: ""), "city.display_name: missing key"),
        ("unknown tenant key", replacing("display_name = \"佛山市\"", with: "display_name = \"佛山市\"\nrole = \"city\""), "city.role: unknown key"),
        ("a top-level key appended below the last table", valid + "metrics_textfile = \"/tmp/subsidyd.prom\"\n",
         "city.metrics_textfile: metrics_textfile is a top-level key, but it is written below the [city] header"),
        ("a top-level key appended below [relocations]", replacing("[city]", with: "[relocations]\nlog_format = \"json\"\n\n[city]"),
         "relocations.log_format: log_format is a top-level key, but it is written below the [relocations] header"),
        ("relocation of an invalid USCC", replacing("[city]", with: "[relocations]\n91440604MA4UH8XX6X = \"nanhai\"\n\n[city]"), "relocations.91440604MA4UH8XX6X: not a valid 统一社会信用代码"),
        ("relocation to an unknown district", replacing("[city]", with: "[relocations]\n91440604MA4UH8XX6U = \"foshan\"\n\n[city]"), "relocations.91440604MA4UH8XX6U: must be a district id"),
        ("unknown log format", replacing("runtime_dir = \"/run/subsidyd-test\"", with: "runtime_dir = \"/run/subsidyd-test\"\nlog_format = \"xml\""), "log_format: must be \"logfmt\" or \"json\""),
        ("metrics textfile the collector ignores", replacing("runtime_dir = \"/run/subsidyd-test\"", with: "runtime_dir = \"/run/subsidyd-test\"\nmetrics_textfile = \"/var/lib/prometheus/node-exporter/subsidyd.txt\""), "metrics_textfile: must end in .prom"),
        ("metrics interval too short", replacing("runtime_dir = \"/run/subsidyd-test\"", with: "runtime_dir = \"/run/subsidyd-test\"\nmetrics_interval_ms = 10"), "metrics_interval_ms: must be between 1000 and 3600000"),
        ("policy file that does not exist", replacing("runtime_dir = \"/run/subsidyd-test\"", with: "runtime_dir = \"/run/subsidyd-test\"\npolicy = \"/nonexistent/foshan-2020.toml\""), "policy: /nonexistent/foshan-2020.toml: cannot open"),
    ]
}
