"""orders: customers placing orders (each one makes orders ask catalog for a price) and checking them."""
import random

from locust import FastHttpUser, between, task


class Customer(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @task(3)
    def place_an_order(self):
        self.client.post("/orders", json={"product_id": random.randint(1, 4), "quantity": random.randint(1, 3)})

    @task(1)
    def recent_orders(self):
        self.client.get("/orders?limit=10", name="/orders?limit=10")
