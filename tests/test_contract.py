"""The contract every explainer honours; a new public Explainer joins by existing."""

import inspect

import keras
import numpy as np
import pytest
from conftest import cam_model, subclassed_copy
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import explainkit
from explainkit import Explainer

EXPLAINERS = [
    obj for name in explainkit.__all__
    if isinstance(obj := getattr(explainkit, name), type)
    and issubclass(obj, Explainer) and obj is not Explainer
]  # fmt: skip


def test_explainers_are_discovered():
    """Check the suite found the public explainers (it must never run empty)."""
    assert {explainkit.GradCAM, explainkit.OcclusionSensitivity, explainkit.ImageLIME} <= set(
        EXPLAINERS
    )


#: Explainers of another task, given a detector made of the classifier (see ``net``);
#: the classification-only checks (shapes, targets, model kinds) leave them out.
DETECTING = [explainkit.DRISE]
CLASSIFYING = [cls for cls in EXPLAINERS if cls not in DETECTING]


class QuadrantDetector:
    """The classifier as a detector: the four quadrants as boxes, each labelled with the
    image's predicted class, confident by 0.75 + 0.25 x the quadrant's mean of channel 0."""

    def __init__(self, classifier):
        self.classifier = classifier

    def __call__(self, X):
        labels = np.asarray(self.classifier(X)).argmax(axis=-1)
        boxes = np.array([[0, 0, 8, 8], [8, 0, 16, 8], [0, 8, 8, 16], [8, 8, 16, 16]], float)
        means = np.stack([X[:, y0:y1, x0:x1, 0].mean(axis=(1, 2))
                          for x0, y0, x1, y1 in boxes.astype(int)], axis=1)
        return {"boxes": np.tile(boxes, (len(X), 1, 1)), "labels": np.repeat(labels[:, None], 4, 1),
                "confidence": 0.75 + 0.25 * means}


@pytest.fixture(scope="module")
def classifier():
    return cam_model(seed=11)


@pytest.fixture
def net(request, classifier):
    """The classifier; for a detection explainer, the classifier as a detector."""
    cls = getattr(request.node, "callspec", None) and request.node.callspec.params.get("cls")
    return QuadrantDetector(classifier) if cls in DETECTING else classifier


@pytest.fixture
def X():
    return np.random.default_rng(2).uniform(0, 1, size=(5, 16, 16, 3)).astype("float32")


def _params(explainer):
    return dict(explainer.get_params(deep=False))


# Settings for explainers that have these parameters: invariances hold for one seed, and
# fewer samples keep the batch_size=1 runs short.
_SETTINGS = {"random_state": 0, "num_samples": 256, "num_masks": 256, "epochs": 2}


def _seeded(cls, net, **params):
    """An explainer with a fixed random_state (and fewer samples) when it has them."""
    accepted = inspect.signature(cls).parameters
    return cls(net, **{k: v for k, v in _SETTINGS.items() if k in accepted}, **params)


def _same(a, b):
    return a is b or (type(a) is type(b) and not isinstance(a, np.ndarray) and a == b)


parametrize = pytest.mark.parametrize("cls", EXPLAINERS, ids=lambda c: c.__name__)
classifying = pytest.mark.parametrize("cls", CLASSIFYING, ids=lambda c: c.__name__)


@parametrize
def test_init_stores_parameters_verbatim(cls, net):
    """Check __init__ stores every argument as given and get_params returns them."""
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()
                if name != "net"}
    explainer = cls(net)
    params = _params(explainer)
    assert params.pop("net") is net
    assert params.keys() == defaults.keys()
    assert all(_same(params[k], defaults[k]) for k in defaults)


@parametrize
def test_init_stores_any_value_untouched(cls, net):
    """Check __init__ stores each argument object itself, whatever it is (no conversion)."""
    placeholders = {name: object() for name in inspect.signature(cls).parameters
                    if name != "net"}
    params = _params(cls(net, **placeholders))
    assert all(params[name] is value for name, value in placeholders.items())


@parametrize
def test_fit_returns_self_and_explain_keeps_parameters(cls, net, X):
    """Check fit returns self and neither fit nor explain changes the parameters."""
    explainer = _seeded(cls, net, batch_size=2)
    before = _params(explainer)
    assert explainer.fit(X) is explainer
    explainer.explain(X)
    after = _params(explainer)
    assert before.keys() == after.keys()
    assert all(_same(before[k], after[k]) for k in before)


@parametrize
def test_clone_shares_the_network(cls, net, X):
    """Check clone keeps the same network object and returns an unfitted explainer."""
    explainer = cls(net, batch_size=3).fit(X)
    copy = clone(explainer)
    assert copy.net is net
    assert copy.get_params()["batch_size"] == 3
    with pytest.raises(NotFittedError):
        copy.explain(np.zeros((16, 16, 3)))


@parametrize
def test_set_params(cls, net):
    """Check set_params changes a parameter and returns the explainer."""
    explainer = cls(net)
    assert explainer.set_params(batch_size=7) is explainer
    assert explainer.batch_size == 7


@parametrize
def test_explain_before_fit_raises(cls, net, X):
    """Check explain before fit raises scikit-learn's NotFittedError."""
    with pytest.raises(NotFittedError, match="fit"):
        cls(net).explain(X)


@parametrize
def test_batch_size_invariance(cls, net, X):
    """Check the maps do not depend on batch_size."""
    if getattr(cls, "learned", False):  # training depends on batch_size; explaining not
        explainer = _seeded(cls, net).fit(X)
        one = explainer.set_params(batch_size=1).explain(X, [0, 2]).maps
        many = explainer.set_params(batch_size=4).explain(X, [0, 2]).maps
    else:
        one = _seeded(cls, net, batch_size=1).fit(X).explain(X, [0, 2]).maps
        many = _seeded(cls, net, batch_size=4).fit(X).explain(X, [0, 2]).maps
    # A model's float32 outputs differ in their last bits between batch sizes (oneDNN's
    # kernels); LIME's regression tree turns that into up to ~2e-5 of an importance.
    np.testing.assert_allclose(one, many, rtol=1e-4, atol=1e-7)


@parametrize
def test_sample_order_invariance(cls, net, X):
    """Check permuting the images permutes the maps (random methods: for one seed)."""
    order = np.array([3, 0, 4, 1, 2])
    explainer = _seeded(cls, net).fit(X)
    np.testing.assert_allclose(explainer.explain(X[order], 1).maps,
                               explainer.explain(X, 1).maps[order], rtol=1e-5, atol=1e-7)


@parametrize
def test_inputs_not_modified(cls, net, X):
    """Check the caller's images are left untouched."""
    before = X.copy()
    cls(net).fit(X).explain(X)
    np.testing.assert_array_equal(X, before)


@parametrize
def test_reproducible_with_random_state(cls, net, X):
    """Check equal random_state gives equal results (deterministic methods: always)."""
    first = _seeded(cls, net).fit(X).explain(X).maps
    second = _seeded(cls, net).fit(X).explain(X).maps
    np.testing.assert_array_equal(first, second)


@classifying
@pytest.mark.parametrize(
    ("batch", "target", "shape"),
    [
        (False, 1, (16, 16)),
        (False, [0, 1, 3], (16, 16, 3)),
        (True, None, (5, 16, 16)),
        (True, [2, 0], (5, 16, 16, 2)),
    ],
)
def test_shapes_and_dtype(cls, net, X, batch, target, shape):
    """Check MATLAB's output shapes and float32 maps."""
    explanation = cls(net).fit(X).explain(X if batch else X[0], target)
    assert explanation.score_map.shape == shape
    assert explanation.score_map.dtype == np.float32
    assert explanation.maps.shape[:3] == ((5,) if batch else (1,)) + (16, 16)
    assert explanation.method == cls.method_name


def _variants(net):
    """The same layers as a list-of-one model, a two-output model and a subclassed model."""
    inputs = keras.Input(net.inputs[0].shape[1:])
    x = inputs
    for layer in net.layers:
        x = layer(x)
    extra = keras.layers.Dense(1, name="extra")(net.get_layer("gap").output)
    two = keras.Model(net.inputs[0], [extra, net.outputs[0]])
    return {"listed": keras.Model(inputs, [x]), "two": two, "subclassed": subclassed_copy(net)}


@classifying
@pytest.mark.parametrize("variant", ["listed", "two", "subclassed"])
def test_model_kinds_explain_alike(cls, net, X, variant):
    """Check a list-of-one output, output= on two outputs and a subclassed model all give
    the maps of the plain Sequential model."""
    model = _variants(net)[variant]
    options = {"output": 1} if variant == "two" else {}
    got = _seeded(cls, model, **options).fit(X).explain(X, [0, 2])
    want = _seeded(cls, net).fit(X).explain(X, [0, 2])
    np.testing.assert_allclose(got.maps, want.maps, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.targets, want.targets)
    assert got.task == want.task == "classification"
    if variant == "two":
        assert got.output == "fc"
        with pytest.raises(ValueError, match=r"2 outputs \(0 'extra'.*1 'fc'"):
            cls(model).fit(X).explain(X)


@classifying
def test_per_image_targets(cls, net, X):
    """Check a numpy (N,) target is one target per image and (N, K) K per image: the maps
    equal those of each image explained alone with its own target(s)."""
    explainer = _seeded(cls, net).fit(X)
    labels = np.array([0, 2, 1, 3, 2])
    got = explainer.explain(X, labels)
    assert got.score_map.shape == (5, 16, 16)
    np.testing.assert_array_equal(got.targets[:, 0], labels)
    pairs = np.array([[0, 1], [2, 0], [1, 1], [3, 2], [2, 3]])
    got_pairs = explainer.explain(X, pairs)
    assert got_pairs.score_map.shape == (5, 16, 16, 2)
    for i in (0, 3):
        alone = explainer.explain(X[i:i + 1], int(labels[i])).maps
        np.testing.assert_allclose(got.maps[i:i + 1], alone, rtol=1e-5, atol=1e-6)
        alone = explainer.explain(X[i:i + 1], list(pairs[i])).maps
        np.testing.assert_allclose(got_pairs.maps[i:i + 1], alone, rtol=1e-5, atol=1e-6)
    # A list keeps meaning the same targets for every image.
    np.testing.assert_array_equal(explainer.explain(X, [0, 2, 1, 3, 2]).targets,
                                  np.tile([0, 2, 1, 3, 2], (5, 1)))
    with pytest.raises(ValueError, match=r"shape \(5,\) or \(5, K\).*got shape \(3,\)"):
        explainer.explain(X, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="ints or class names.*float"):
        explainer.explain(X, labels.astype(float))
