"""models/unimotion"""
