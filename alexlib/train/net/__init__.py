"""The network: the 2012 AlexNet (model), the norms' registry (norms) and the layers torch lacks (layers), its
sizes as arithmetic (shapes), and the per-layer signals a run records (signals). Torch-free at import but for
model and layers: the report and the configuration read norms, shapes and signals without torch."""
