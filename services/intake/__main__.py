from services.intake.service import build

build().run()
