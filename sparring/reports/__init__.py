"""What the user sees: progress bars and a table in the console each round (console), and one
self-contained report.html of the whole run (html)."""
