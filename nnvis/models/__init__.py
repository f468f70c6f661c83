"""Models: the zoo and the user's own (factories, TorchScript, pretrained weights), layers,
snapshots, training, the allow-list of code a workspace may load, and capturing activations and
feature maps.

Public names below (each loads its module on first use); everything else is the wing's own."""

from nnvis._exports import lazy_exports

_EXPORTS = {
    "PRECISIONS": "activations",
    "capture": "activations",
    "input_activations": "activations",
    "reduce_output": "activations",
    "checkpoint_series": "checkpoints",
    "channel_alphas": "feature_maps",
    "heat_colours": "feature_maps",
    "layer_outputs": "feature_maps",
    "map_layers": "feature_maps",
    "normalise": "feature_maps",
    "not_maps_error": "feature_maps",
    "overlay": "feature_maps",
    "top_channels": "feature_maps",
    "unit_activation": "feature_maps",
    "upsample": "feature_maps",
    "collected_outputs": "hooks",
    "eval_mode": "hooks",
    "first_tensor": "hooks",
    "forward_hooks": "hooks",
    "model_lock": "hooks",
    "INPUT_LAYER": "layers",
    "default_layer_reasons": "layers",
    "get_module": "layers",
    "last_linear": "layers",
    "list_layers": "layers",
    "resolve_layers": "layers",
    "is_weight_name": "pretrained",
    "pretrained_preprocessing": "pretrained",
    "TrainSettings": "training",
    "snapshot_epochs": "training",
    "train": "training",
    "check_served_model": "trust",
    "is_built_in": "trust",
    "LoadedModel": "zoo",
    "build_model": "zoo",
    "images_to_tensor": "zoo",
    "load_weights_into": "zoo",
    "model_from_factory": "zoo",
    "read_state_dict": "zoo",
    "weights_hash": "zoo",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
