"""The input formats a user can point visim at: the ImageSource interface and its errors
(base), one reader per format, and open_source (factory), which picks the reader."""
