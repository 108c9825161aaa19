"""browse: shoppers looking around the catalog, mostly at single products."""
import random

from locust import FastHttpUser, between, task


class Shopper(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @task(3)
    def look_at_a_product(self):
        self.client.get(f"/products/{random.randint(1, 4)}", name="/products/[id]")

    @task(1)
    def list_products(self):
        self.client.get("/products")
