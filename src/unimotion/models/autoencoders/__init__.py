"""models/autoencoders"""
