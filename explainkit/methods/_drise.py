"""D-RISE: RISE for object detectors, each mask weighted by how well the detection survives it."""

from __future__ import annotations

import numbers

import numpy as np

from .._baselines import mask_values
from .._batching import check_batch_size, images_per_call
from .._detection import DetectionTask, detector
from .._validation import check_images, check_int, check_option
from ..base import Explainer
from ._lime import _check_random_state
from ._rise import NORMALIZATIONS, MaskBlocks, _check_p, masked_sums, normalize, seed_entropy


class DRISE(Explainer):
    """D-RISE, Detector Randomized Input Sampling for Explanation (Petsiuk et al., 2021).

    RISE for object detectors, as MATLAB's ``drise``: ``num_masks`` random soft masks
    ``M_i`` (RISE's: a ``grid_size`` grid of cells kept with probability
    ``keep_probability``, upsampled bilinearly and shifted at random) each keep part of
    the image; the detector runs on every masked image, and the weight of a mask for a
    target detection ``t`` is the best similarity of the masked image's detections ``d``
    to it, ``max_d IoU(box_t, box_d) * cos(p_t, p_d) * o_d`` (box overlap, cosine of the
    class-score vectors, objectness). The map of ``t`` is ``sum_i w_i M_i / sum_i M_i``
    per pixel (``normalization="coverage"``, RISE's default) or divided by
    ``num_masks * keep_probability`` (``"paper"``).

    A detector that gives only a label and a confidence per box has one-hot class vectors
    (the cosine is 1 for the same label, 0 otherwise) and its confidence takes the place
    of objectness. Masks are RISE's, made 64 at a time from seeds derived from
    ``random_state``: the maps do not depend on ``batch_size``.

    Parameters
    ----------
    net : keras-hub ObjectDetector or callable
        A keras-hub object detector (``RetinaNetObjectDetector``: decoded here with its own
        anchors, box format and non-maximum suppression), or any ``f(images) ->
        detections``: a dict with ``boxes`` ``(N, M, 4)``, ``labels`` (or ``classes``)
        and ``confidence`` ``(N, M)``, or ``probabilities`` ``(N, M, K)``, optionally
        ``objectness`` ``(N, M)`` and ``num_detections`` ``(N,)``; or a list of one such
        dict per image.
    num_masks : int, default=2048
        Masked images per image (detector evaluations).
    grid_size : int, default=16
        Cells of the mask grid along each axis (the paper's 16).
    keep_probability : float, default=0.5
        Probability that a cell is kept, in (0, 1].
    mask_value : number, array, "mean" or "blur", default=0
        What the hidden part shows (RISE's options): 0 as in the paper.
    normalization : {"coverage", "paper"}, default="coverage"
        As for :class:`~explainkit.RISE`.
    score_threshold : float, default=0.5
        With ``target=None``: the detections explained are those scoring at least this.
    bounding_box_format : str, optional
        The callable's box format (default ``"xyxy"``, pixels); a keras-hub detector has
        its own.
    batch_size : "auto" or int, default="auto"
        Masked images per detector call (MATLAB's ``MiniBatchSize``), capped by the byte
        budget (:func:`explainkit.set_config`).
    random_state : None, int, numpy Generator or RandomState
        Seeds the masks (recorded as ``params["seed"]``).
    class_names : sequence of str, optional
        Names of the classes, for ``target_names`` and plots.
    progress : bool, optional
        A progress bar (MATLAB's ``Verbose``); None = only on long interactive runs.

    References
    ----------
    .. [1] V. Petsiuk, R. Jain, V. Manjunatha, V. I. Morariu, A. Mehra, V. Ordonez and
       K. Saenko, "Black-box Explanation of Object Detectors via Saliency Maps", CVPR 2021.
       https://arxiv.org/abs/2006.03204

    Examples
    --------
    >>> import numpy as np
    >>> from explainkit import DRISE, Detections
    >>> def f(X):  # one box at rows 2..6, columns 2..6; confident while its centre shows
    ...     conf = X[:, 3:5, 3:5, 0].mean(axis=(1, 2))
    ...     return {"boxes": np.tile([[[2.0, 2.0, 6.0, 6.0]]], (len(X), 1, 1)),
    ...             "labels": np.zeros((len(X), 1), int), "confidence": conf[:, None]}
    >>> explanation = DRISE(f, num_masks=256, grid_size=4, random_state=0).fit().explain(
    ...     np.ones((8, 8, 1)), target=0)
    >>> m = explanation.score_map
    >>> bool(m[3:5, 3:5].mean() > m[:2, :2].mean())
    True
    """

    method_name = "drise"

    def __init__(self, net, *, num_masks=2048, grid_size=16, keep_probability=0.5,
                 mask_value=0, normalization="coverage", score_threshold=0.5,
                 bounding_box_format=None, batch_size="auto", random_state=None,
                 class_names=None, progress=None):
        self.net = net
        self.num_masks = num_masks
        self.grid_size = grid_size
        self.keep_probability = keep_probability
        self.mask_value = mask_value
        self.normalization = normalization
        self.score_threshold = score_threshold
        self.bounding_box_format = bounding_box_format
        self.batch_size = batch_size
        self.random_state = random_state
        self.class_names = class_names
        self.progress = progress

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "detector_")

    def fit(self, X=None, y=None):
        """Validate the parameters and wrap the detector; return ``self``.

        Parameters
        ----------
        X, y : ignored
            Accepted for scikit-learn compatibility.
        """
        check_int("num_masks", self.num_masks, minimum=1)
        check_int("grid_size", self.grid_size, minimum=1)
        try:
            _check_p(self.keep_probability)
        except (TypeError, ValueError) as error:
            raise type(error)(str(error).replace("'p'", "'keep_probability'")) from None
        check_option("normalization", self.normalization, NORMALIZATIONS)
        threshold = self.score_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not (
                np.isfinite(threshold)):
            raise TypeError(
                "The 'score_threshold' parameter must be a finite number. "
                f"Got {threshold!r} of type {type(threshold).__name__} instead.")
        check_batch_size(self.batch_size)
        _check_random_state(self.random_state)
        if self.progress is not None and not isinstance(self.progress, bool):
            raise TypeError(f"progress must be None, True or False; got {self.progress!r}.")
        self.detector_ = detector(self.net, self.bounding_box_format)
        self._task = DetectionTask(self.detector_)
        return self

    def explain(self, X, target=None):
        """D-RISE maps of the detections ``target`` in the images ``X``.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)`` (or ``(H, W)``) or a batch ``(N, H, W, C)``.
        target : None, int, list of int, Detections or list of Detections
            None = every detection of the unmasked image scoring at least
            ``score_threshold``; an int = the detection of that rank (0 = the best); a
            list of ints = several; ``Detections(boxes, labels)`` = given boxes and
            classes (MATLAB's ``bboxIn``, ``labelIn``), for every image; a list of
            Detections = one per image.

        Returns
        -------
        Explanation
            ``maps`` ``(N, H, W, T)``, one per explained detection (NaN for the padding of
            an image with fewer than T); ``detections``: per image, the
            :class:`~explainkit.Detections` explained (boxes in the detector's format,
            labels, scores: MATLAB's ``bboxOut``, ``labelOut``, ``scores``); ``targets``
            their labels; ``scores`` their confidences on the unmasked image (for given
            boxes: the similarity of the best detection there); ``params["seed"]``.
        """
        self._check_fitted()
        task = self._task
        images, single_image = check_images(X, input_shape=task.input_shape)
        n, height, width, _ = images.shape
        if self.grid_size > min(height, width):
            raise ValueError(
                f"grid_size={self.grid_size} is larger than the images ({height}, {width}): "
                "a mask grid needs at least one pixel per cell.")
        batch_size = images_per_call(self.batch_size, images[0].nbytes)
        targets, _ = task.targets(images, target, batch_size=batch_size,
                                  score_threshold=float(self.score_threshold))
        replacement = mask_values(self.mask_value, images)
        entropy = seed_entropy(self.random_state)
        masks = MaskBlocks(entropy, self.num_masks, self.grid_size,
                           float(self.keep_probability), (height, width))
        sums, coverage = masked_sums(
            images, replacement, masks, lambda batch, ids: task.scores(batch, ids, targets),
            targets.boxes.shape[1], batch_size=batch_size, progress=self.progress,
            desc="drise")
        maps = normalize(sums, coverage, self.normalization, masks).reshape(
            n, -1, height, width).transpose(0, 2, 3, 1)
        maps = np.where(targets.valid[:, None, None, :], maps, np.nan)
        detections = task.detections(targets, height, width)
        labels = np.where(targets.valid, targets.labels, 0)
        explanation = self._explanation(
            maps, targets=labels, scores=targets.scores, task="detection", images=images,
            single_image=single_image,
            single_target=isinstance(target, numbers.Integral) and not isinstance(target, bool),
            params={**self._run_params(), "seed": entropy}, detections=detections)
        return explanation


def drise(net, X, target=None, *, num_masks: int = 2048, grid_size: int = 16,
          keep_probability: float = 0.5, mask_value=0, normalization: str = "coverage",
          score_threshold: float = 0.5, bounding_box_format=None, batch_size="auto",
          random_state=None, class_names=None, progress=None):
    """D-RISE maps and the detections they explain, as MATLAB's ``drise`` returns them.

    Parameters are those of :class:`DRISE` and its ``explain``.

    Returns
    -------
    score_map : ndarray
        ``(H, W, T)``: one map per explained detection (``(H, W)`` for an int target);
        for a batch ``(N, H, W, T)``.
    boxes, scores, labels : ndarray
        The explained detections (MATLAB's ``bboxOut``, ``scores``, ``labelOut``): boxes
        ``(T, 4)`` in the detector's box format, their scores and labels ``(T,)``; for a
        batch, lists with one array per image.
    """
    explanation = DRISE(
        net, num_masks=num_masks, grid_size=grid_size, keep_probability=keep_probability,
        mask_value=mask_value, normalization=normalization, score_threshold=score_threshold,
        bounding_box_format=bounding_box_format, batch_size=batch_size,
        random_state=random_state, class_names=class_names, progress=progress,
    ).fit(X).explain(X, target)  # fmt: skip
    found = explanation.detections
    boxes = [d.boxes for d in found]
    scores = [d.scores for d in found]
    labels = [d.labels for d in found]
    if explanation.single_image:
        return explanation.score_map, boxes[0], scores[0], labels[0]
    return explanation.score_map, boxes, scores, labels
