"""Spatial control (Gatys et al. 2017, *Controlling Perceptual Factors in Neural Style
Transfer*): which style goes where. `masks` turns one mask per style (or `segmentation` a
colour-coded map) into `Regions`, a guide over the content image per region with the styles it
takes; `evaluation.guides` brings each guide to every style layer's resolution, and `composite`
puts the photo back where no mask asked for a style.
"""
