// The console: see solomo/console/static/app/.
