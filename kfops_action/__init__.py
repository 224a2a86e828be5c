"""kfops: a pull request as the record of every Kubeflow experiment and release.

The package is shared by the `kfc` CLI and the GitHub Action. It must stay cheap to import: kfp,
kubernetes, jsonschema and requests are imported only inside the modules that use them, so that
`kfc --help` and the Action's first acknowledgement do not pay for them.
"""

__version__ = "0.1.0"
