"""The training engine shared by every modality: one Lightning module over the core's
parameterizations, data glue through the domain interface, Lightning checkpoint IO and
callbacks, and the train task (:func:`molediff.train.run.train`).

Generation from a checkpoint does not need this package (nor Lightning): see
:mod:`molediff.inference`. Import the submodules you need; this package imports nothing.
"""
