"""Kernels the engines share, below every config: `kernels.tv` holds torchvision's resampling, the eval
geometry, the border fill and the batch masks (the torchvision backend, the torch resampler inside
DALI and the batch stage run them); `kernels.nodes` holds the DALI node helpers the ops' graph
functions and the DALI graph build with."""
