"""Test harness shared with the benchmarks: loopback S3/HTTP servers with injected faults
(`servers`) and a FUSE filesystem with added latency (`latencyfs`). Not shipped: the package holds
what users import or run."""
