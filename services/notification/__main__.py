from services.notification.service import build

build().run()
