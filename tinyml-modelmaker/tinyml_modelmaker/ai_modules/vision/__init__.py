"""The vision modality: image classification (``common.target_module: vision``).

Images in ``classes/<class_name>/*.{png,jpg,jpeg,bmp,npy}`` are read by tinyverse's ``vision`` data
modality; the stages are those of time series. Torch-free to import.
"""
