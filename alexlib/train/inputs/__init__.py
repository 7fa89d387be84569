"""What a run is fed: the datasets by name (datasets), their loaders (data: CIFAR-10, Fashion-MNIST, digits,
synthetic; images: class-per-folder images and archives), what a loader returns (splits), and what a run does to
the images on the device (transforms)."""
