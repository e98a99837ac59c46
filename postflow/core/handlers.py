"""Server interceptors that act around every call, whatever its shape, written once."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc

# What an interceptor does around one call: entered before the handler runs (it may abort
# the call there), left when the handler returns or raises (with what it raised).
Around = Callable[[Any, grpc.aio.ServicerContext], AbstractAsyncContextManager[None]]


def wrap_handler(handler: grpc.RpcMethodHandler, around: Around) -> grpc.RpcMethodHandler:
    """`handler` (any of the four RPC shapes) with each call run inside `around(request, context)`."""
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _unary(handler.unary_unary, around), handler.request_deserializer, handler.response_serializer)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            _stream(handler.unary_stream, around), handler.request_deserializer, handler.response_serializer)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _unary(handler.stream_unary, around), handler.request_deserializer, handler.response_serializer)
    return grpc.stream_stream_rpc_method_handler(
        _stream(handler.stream_stream, around), handler.request_deserializer, handler.response_serializer)


def _unary(behaviour: Callable[..., Any], around: Around) -> Callable[..., Any]:
    async def call(request, context: grpc.aio.ServicerContext):
        async with around(request, context):
            return await behaviour(request, context)

    return call


def _stream(behaviour: Callable[..., Any], around: Around) -> Callable[..., Any]:
    async def call(request, context: grpc.aio.ServicerContext):
        async with around(request, context):
            responses = behaviour(request, context)
            if inspect.isawaitable(responses):  # a handler that sends with context.write() (health Watch)
                await responses
                return
            async for response in responses:
                yield response

    return call
