"""Credit: scoring a customer from its financial statements and its payment history."""
