"""The pipeline's stages, each a declared unit (``hins.stages.base.Stage``): its name, the typed settings it reads,
the stages it consumes, a code version, ``build`` and ``load``. The runner (``hins.stages.runner``) derives every
artifact's key from those and caches the artifacts; ``hins.pipeline`` puts a run's stages in order."""
