"""Motion stage: speech -> canonical landmark motion (l-GAN), blink generator, retargeting."""
