"""The Qt front end: main window, dock panes and shared widgets."""
