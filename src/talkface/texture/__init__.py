"""Texture stage: face images from landmark images, meta-learning and K-shot adaptation.

Modules (import them directly; this package does not import torch on its own):

* :mod:`talkface.texture.tgan` — t-GAN of Das et al. 2020 (E_I, E_L with AdaIN, D_T), the
  :class:`~talkface.texture.tgan.TextureGAN` LightningModule and :func:`~talkface.texture.tgan.train_texture`;
* :mod:`talkface.texture.attention` — identity-preserving attention/colour-map variant (Sinha et al.);
* :mod:`talkface.texture.losses` — pixel, adversarial, perceptual losses and their weights (eqs. 8-11);
* :mod:`talkface.texture.meta` — MAML meta-training (:func:`~talkface.texture.meta.meta_train_texture`);
* :mod:`talkface.texture.data` — frames, samples, speaker tasks and the DataModule;
* :mod:`talkface.texture.adapt` — K-shot fine-tuning to a new person, person-model files, evaluation.
"""
