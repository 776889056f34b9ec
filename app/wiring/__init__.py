"""How the app is put together, from ``factory.create_app`` down: the stores over one Redis
(``stores``), what the process holds open (``resources``), who may call (``access``), the admin
services the CLI shares (``admin``) and every service a request or the settler uses
(``services``). Nothing here decides anything; it only passes each part what it needs."""
