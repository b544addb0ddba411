extension ServerConfiguration.Limits {
    /// The limits as the configuration file spells them (`key=value`, space-separated), for the
    /// start-up and reload log lines: an operator can grep the key they set.
    public var summary: String {
        [
            ("max_frame_bytes", "\(maximumFrameLength)"), ("frame_deadline_ms", "\(frameDeadlineMilliseconds)"),
            ("idle_timeout_ms", "\(idleTimeoutMilliseconds)"), ("write_stall_timeout_ms", "\(writeStallTimeoutMilliseconds)"), ("max_calls_per_connection", "\(maximumConcurrentCallsPerConnection)"),
            ("max_connections", "\(maximumConnections)"), ("max_connections_per_uid", "\(maximumConnectionsPerUID)"),
            ("max_connections_per_tenant", "\(maximumConnectionsPerTenant)"),
            ("max_queued_bytes_per_connection", "\(maximumQueuedBytesPerConnection)"),
            ("max_queued_bytes_per_tenant", "\(maximumQueuedBytesPerTenant)"),
            ("max_concurrent_store_calls_per_tenant", "\(maximumConcurrentStoreCallsPerTenant)"),
            ("max_concurrent_compute_per_tenant", "\(computeTurnsPerTenant)"),
            ("requests_per_second", "\(requestsPerSecond)"), ("request_burst", "\(requestBurst)"),
            ("drain_grace_ms", "\(drainGraceMilliseconds)"),
            ("max_district_file_bytes", "\(maximumDistrictFileBytes)"), ("min_free_disk_bytes", "\(minimumFreeDiskBytes)"),
            ("search_scan_rows", "\(searchScanRows)"),
        ].map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}
