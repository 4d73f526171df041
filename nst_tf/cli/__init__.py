"""The command-line side shared by `nst_tf.run`, `nst_tf.sweep` (and the video mode): flags
derived from the configs (`flags`, `run_config`), signals and start-up (`signals`,
`startup`), the files-to-files job (`job`: inputs -> resume -> `stylize` -> finish), its
progress reporter (`reporter`: logs, TensorBoard, intermediate images, checkpoints), the
finishing step (`finish`: image and run record), checkpoints and the run record. Only this
package and the entry points touch flags, print, or exit.
"""
