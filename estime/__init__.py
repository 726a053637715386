"""estime: temporal analysis of event-sourced logs."""
