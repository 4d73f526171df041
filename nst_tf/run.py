"""Command line: `python -m nst_tf.run --flagfile=configs/default.cfg [--flag=value ...]`.

A thin shell over `nst_tf.cli.main`: flags (one per StyleConfig and RunConfig field, defaults
read from them) -> frozen configs -> `nst_tf.stylize` on the files -> image, checkpoint and
JSON record saved atomically.
"""

from nst_tf.cli.main import entry_point

if __name__ == "__main__":
    entry_point()
