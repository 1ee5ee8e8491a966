"""Building blocks shared by the reference scripts and by tinyml_modelmaker."""
