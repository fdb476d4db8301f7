"""keras-hub models as users have them: transformers, blocks nested in layers, tasks.

Tiny models from keras-hub's own constructors (random weights: the presets cannot be
downloaded here; the code paths are the same). The references are hand-written tapes: the
blocks run by hand, or the reported layer's output recorded during the model's own eager
call (a spy written here, not explainkit's capture).
"""

import warnings

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import spy_tape

import explainkit
from explainkit import visualize
from explainkit._models._keras import adapter

M = keras_hub.models


def _grad_cam(A, G):
    """ReLU(sum_k mean(G_k) A_k) for (N, h, w, C) activations and gradients."""
    return np.maximum(np.einsum("nhwk,nk->nhw", A, G.mean(axis=(1, 2))), 0)


def _weights(net):
    return [np.array(w) for w in net.get_weights()]


def _vit(pooling="token", seed=0, preprocessor=None):
    keras.utils.set_random_seed(seed)
    backbone = M.ViTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
                             hidden_dim=16, mlp_dim=32)
    return M.ViTImageClassifier(backbone=backbone, num_classes=3, pooling=pooling,
                                preprocessor=preprocessor)


def _resnet_backbone():
    return M.ResNetBackbone(input_conv_filters=[64], input_conv_kernel_sizes=[3],
                            stackwise_num_filters=[64, 16], stackwise_num_blocks=[1, 1],
                            stackwise_num_strides=[1, 2], block_type="basic_block",
                            image_shape=(32, 32, 3))


def _x(n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 32, 32, 3)).astype("float32")


@pytest.fixture(scope="module")
def vit():
    return _vit()


def _vit_by_hand(net, x, target):
    """Block 1's output tokens, and the gradient of the logit there: block 2 and the head
    run by hand (ViTEncoder: dropout, blocks, LayerNorm; the head reads the class token,
    or the mean of all tokens)."""
    backbone = net.backbone
    encoder = backbone.get_layer("vit_encoder")
    tokens = encoder.encoder_layers[0](backbone.get_layer("vit_patching_and_embedding")(x))
    with tf.GradientTape() as tape:
        tape.watch(tokens)
        y = encoder.layer_norm(encoder.encoder_layers[1](tokens))
        pooled = y[:, 0] if net.pooling == "token" else tf.reduce_mean(y, axis=1)
        score = net.output_dense(pooled)[:, target]
    return tokens.numpy(), tape.gradient(score, tokens).numpy()


@pytest.mark.parametrize("pooling", ["token", "gap"])
def test_vit_automatic_layer_matches_the_blocks_by_hand(pooling):
    """Check ViT's automatic map comes from the last block's input (block 1's output),
    where the patch tokens reach the class token, and equals the tape by hand."""
    net = _vit(pooling)
    before = _weights(net)
    x = _x(3)
    explainer = explainkit.GradCAM(net, output_upsampling="none").fit()
    assert explainer.feature_layer_ == "transformer_block_1"
    assert explainer.feature_grid_ == (4, 4)
    tokens, gradient = _vit_by_hand(net, x, 2)
    assert np.abs(gradient[:, 1:]).max() > 0
    expected = _grad_cam(tokens[:, 1:].reshape(3, 4, 4, 16), gradient[:, 1:].reshape(3, 4, 4, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("error", explainkit.BlankMapWarning)
        got = explainer.explain(x, 2).score_map
    assert np.ptp(got) > 0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())
    for want, now in zip(before, _weights(net), strict=True):
        np.testing.assert_array_equal(want, now)


def test_a_layer_in_a_layers_list_by_object_and_by_path(vit):
    """Check a block held in ViTEncoder.encoder_layers is reachable by object, by full path
    and by the tail of its path, for Grad-CAM, Score-CAM, L-CAM and visualize."""
    encoder = vit.backbone.get_layer("vit_encoder")
    block = encoder.encoder_layers[0]
    x = _x(2)
    specs = (block, "vit_encoder/transformer_block_1",
             f"{vit.backbone.name}/vit_encoder/transformer_block_1")
    for method in (explainkit.GradCAM, explainkit.ScoreCAM):
        maps = [method(vit, feature_layer=spec).fit().explain(x, 1).maps for spec in specs]
        for other in maps[1:]:
            np.testing.assert_array_equal(other, maps[0])
        assert np.ptp(maps[0]) > 0
    lcam = explainkit.LCAM(vit, feature_layer=block, epochs=1, random_state=0).fit(x)
    assert (lcam.feature_layer_, lcam.feature_grid_) == ("transformer_block_1", (4, 4))
    assert lcam.explain(x, 1).maps.shape == (2, 32, 32, 1)
    tokens, _ = _vit_by_hand(vit, x, 0)
    for spec in specs:
        result = visualize.activations(vit, x, spec)
        assert result.kind == "tokens"
        np.testing.assert_allclose(result.values, tokens[:, 1:].reshape(2, 4, 4, 16),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not part of this model.*transformer_block_1"):
        explainkit.GradCAM(vit, feature_layer=keras.layers.Dense(2)).fit()


def test_no_gradient_at_the_feature_layer_warns_and_compare_marks_it(vit):
    """Check the encoder's output (read by the head only at the class token) gives blank
    maps with a BlankMapWarning naming the layer to use, and compare marks the method."""
    x = _x(2)
    with pytest.warns(explainkit.BlankMapWarning, match="'vit_encoder'.*class token.*"
                      "feature_layer='transformer_block_1'") as record:
        maps = explainkit.GradCAM(vit, feature_layer="vit_encoder").fit().explain(x, 1).maps
    assert np.all(maps == 0)
    assert record[0].filename == __file__  # it points at the caller's line
    with pytest.warns(explainkit.BlankMapWarning):
        comparison = explainkit.compare(
            vit, x, 1, methods=["gradcam", "gradcam++"], metrics=["deletion"],
            method_options={"gradcam": {"feature_layer": "vit_encoder"}})
    assert list(comparison.blank) == ["gradcam"]
    assert "gradcam †" in comparison.table() and "gradcam++ †" not in comparison.table()


def _deit():
    keras.utils.set_random_seed(1)
    backbone = M.DeiTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2,
                              num_heads=2, hidden_dim=16, intermediate_dim=32)
    return M.DeiTImageClassifier(backbone=backbone, num_classes=3)


def _segformer():
    keras.utils.set_random_seed(2)
    encoder = M.MiTBackbone(layerwise_depths=[1, 1], num_layers=2, layerwise_num_heads=[1, 2],
                            layerwise_sr_ratios=[2, 1], max_drop_path_rate=0.0,
                            layerwise_patch_sizes=[7, 3], layerwise_strides=[4, 2],
                            image_shape=(32, 32, 3), hidden_dims=[8, 16])
    backbone = M.SegFormerBackbone(image_encoder=encoder, projection_filters=8)
    return M.SegFormerImageSegmenter(backbone=backbone, num_classes=3)


def _deeplab():
    keras.utils.set_random_seed(3)
    backbone = M.DeepLabV3Backbone(image_encoder=_resnet_backbone(), low_level_feature_key="P2",
                                   spatial_pyramid_pooling_key="P3", dilation_rates=[1, 2],
                                   upsampling_size=2, projection_filters=8)
    return M.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=3)


def _resnet():
    keras.utils.set_random_seed(4)
    return M.ResNetImageClassifier(backbone=_resnet_backbone(), num_classes=3)


@pytest.mark.parametrize(("build", "segmentation", "prefix"), [
    (_deit, False, 2), (_segformer, True, 0), (_deeplab, True, 0), (_resnet, False, 0),
])
def test_automatic_maps_match_a_tape_at_the_reported_layer(build, segmentation, prefix):
    """Check DeiT (class + distillation tokens), SegFormer, DeepLabV3 and ResNet: the
    automatic map equals the tape's Grad-CAM at the layer explainkit reports."""
    net = build()
    before = _weights(net)
    x = _x(2, seed=5)
    explainer = explainkit.GradCAM(net, output_upsampling="none").fit(x)
    got = explainer.explain(x, 1).maps[..., 0]
    layer = adapter(net).graph((32, 32, 3)).find(explainer.feature_layer_, "layer").layer

    def score_of(out):  # a class's logit; segmentation: summed over every pixel
        return tf.reduce_sum(out[..., 1], axis=(1, 2)) if segmentation else out[:, 1]

    A, G = spy_tape(net, layer, x, score_of)
    if A.ndim == 3:  # tokens: the prefix dropped, the rest a 4x4 grid
        assert explainer.feature_grid_ == (4, 4)
        A, G = (t[:, prefix:].reshape(2, 4, 4, -1) for t in (A, G))
    expected = _grad_cam(A, G)
    assert np.ptp(got) > 0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * expected.max())
    for want, now in zip(before, _weights(net), strict=True):
        np.testing.assert_array_equal(want, now)


def _task(crop=True):
    converter = keras_hub.layers.ViTImageConverter(
        image_size=(32, 32), scale=1 / 255.0, offset=-0.5, crop_to_aspect_ratio=crop,
        pad_to_aspect_ratio=not crop)
    return _vit(preprocessor=M.ViTImageClassifierPreprocessor(image_converter=converter))


@pytest.mark.parametrize("crop", [True, False])
def test_a_task_explains_raw_images_through_its_converter(crop):
    """Check a ViT task's maps on raw 48x64 images: the map of the converted image (the
    model's own input), resized back onto the crop (0 outside) or out of the padding."""
    task = _task(crop)
    raw = np.random.default_rng(6).integers(0, 256, (2, 48, 64, 3)).astype(np.uint8)
    converted = np.asarray(task.preprocessor.image_converter(raw.astype("float32")))
    for method, options in (("gradcam", {}), ("occlusion", {})):
        got = explainkit.explain(task, raw, 1, method=method, **options)
        with explainkit.config_context(preprocess=None):
            plain = explainkit.explain(task, converted, 1, method=method, **options)
        assert got.maps.shape == (2, 48, 64, 1) and got.params["preprocess"] == "task"
        np.testing.assert_array_equal(got.images, raw.astype(np.float32))
        model_map = tf.convert_to_tensor(plain.maps)
        if crop:  # the central 48x48 square, resized to 32x32
            want = tf.image.resize(model_map, (48, 48), "bilinear").numpy()
            np.testing.assert_allclose(got.maps[:, :, 8:56], want, rtol=1e-4, atol=1e-5)
            assert np.all(got.maps[:, :, :8] == 0) and np.all(got.maps[:, :, 56:] == 0)
        else:  # padded to 64x64 (8 rows above and below), resized to 32x32
            want = tf.image.resize(model_map, (64, 64), "bilinear").numpy()[:, 8:56]
            np.testing.assert_allclose(got.maps, want, rtol=1e-4, atol=1e-5)
    with explainkit.config_context(preprocess=None), pytest.raises(
            ValueError, match="spatial size"):
        explainkit.GradCAM(task).fit().explain(raw, 1)
    with pytest.raises(ValueError, match="'preprocess' setting must be 'task' or None"):
        explainkit.set_config(preprocess="auto")
