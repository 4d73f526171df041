"""The evaluation stage: one loss+gradient computation of an image.

`spec` (what the loss reads, its weights), `targets` (computed once per run), `loss_function`
(the traced loss+gradient), `lean_vgg` (the hand-written backward pass of VGG), `evaluator`
(the bridge to SciPy's float64 vectors).
"""
