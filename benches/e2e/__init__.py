"""The end-to-end benchmark's parts; benches/e2e.py is its entry point (see its docstring).

settings   paths, the compat harness's apache_kafka module, the constants every part shares
progress   the timestamped progress lines
scale      how much each part of a run does (full or --quick)
wire       just enough of the Kafka protocol to see a cluster formed and a topic ready
processes  broker processes (Riffle, Kafka), deployments of one or three nodes, their CPU and RSS
loadgen    the load generators: rdkafka_performance and Kafka's own perf tools
host       this machine: its description, its disks' busy time, its memory (scratch files)
runs       the measured runs: side by side, latencies, start-up, footprint, heap search, Riffle only
report     the results rendered into BENCHMARKS.md
"""
