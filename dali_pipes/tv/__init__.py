"""The torchvision fallback: the same `Preprocess` as `transforms.v2`, fed by a DataLoader.

Named `tv` so it never shadows the real `torchvision` package.
"""
