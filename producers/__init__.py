"""Tools that publish the service's input: JSON Lines files and the demo's builds."""
