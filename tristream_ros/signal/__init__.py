"""Signal processing without ROS: audio sample formats, image payload codecs, features."""
