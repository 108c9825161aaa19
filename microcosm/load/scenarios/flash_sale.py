"""flash_sale: shoppers rushing for the last items of a sale (chapter 08). Each one tries to reserve one item,
again and again: 201 is a reservation, 409 "sold out" is a right answer too (not a failure)."""
import os

from locust import FastHttpUser, between, task

ITEM = os.environ.get("FLASH_SALE_ITEM", "sneakers")


class Shopper(FastHttpUser):
    wait_time = between(0.01, 0.05)

    @task
    def reserve(self):
        with self.client.post("/reservations", json={"item": ITEM}, name="/reservations",
                              catch_response=True) as answer:
            if answer.status_code in (201, 409):
                answer.success()
