"""``${project_root:}`` for the Hydra composition that ``dvc exp run`` does.

With ``hydra.enabled`` in ``.dvc/config``, ``dvc exp run`` composes ``conf/``
(plus its ``-S`` overrides) into ``params.yaml`` in DVC's own process, which
never imports socialcrm. Before composing, DVC puts ``hydra.plugins_path`` (by
default the repo root) on ``sys.path`` and lets Hydra scan the ``hydra_plugins``
namespace package, which imports this module (no plugin class is defined here).

Here ``${project_root:}`` resolves to itself, so ``params.yaml`` keeps
``${project_root:}/data/raw/...`` instead of this machine's absolute paths: the
file is the same in every checkout and can be committed. The stages load it
with :func:`socialcrm.config.load_params`, where socialcrm's own resolver
(registered by ``socialcrm.config``, which replaces this one) fills in the
checkout's root. Only processes that have not imported ``socialcrm.config``
keep the placeholder.

``${secret:NAME,default}`` (the salt) is kept as a reference in the same way, so
params.yaml and dvc.lock never hold the value of ``$SOCIALCRM_SALT``.
"""

from __future__ import annotations

from omegaconf import OmegaConf

PLACEHOLDER = "${project_root:}"

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: PLACEHOLDER)


def _secret_reference(name: str, default: object = None) -> str:
    """``${secret:NAME,default}`` resolves to itself: the secret's value (an environment
    variable) never reaches params.yaml or dvc.lock."""
    default_text = "null" if default is None else str(default)
    return "${secret:" + f"{name},{default_text}" + "}"


if not OmegaConf.has_resolver("secret"):
    OmegaConf.register_new_resolver("secret", _secret_reference)
