"""The DALI backend: graph functions, the pipeline that joins them to a source, the PyTorch adapter."""
