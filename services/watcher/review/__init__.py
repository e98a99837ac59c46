"""The review loop: what comes back from Frame.io about the files PostFlow delivered
(webhooks, comments, review status) and what PostFlow does with it."""
