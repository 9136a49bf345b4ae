"""Keras layers and models of DVD-GAN. Pure Keras: no gin, flags or strategy."""
