# Starts moto_server with two repairs to its DynamoDB costs, which otherwise
# grow with the whole table, so that a stack holding a month of data slows to
# seconds per request:
#   - TransactWriteItems backs up every table it touches with a deep copy
#     before each call. This backs up only the items the transaction names
#     and restores them if it is cancelled, which is what the copy is for.
#   - Query on a table's own key reads (and sorts) every item of the table
#     to pick one partition. This hands it that partition's items only.
# Results are unchanged; everything else is moto as installed.
import copy
import json
import os
import sys
import threading

args = sys.argv[1:]
try:
    from moto.server import main
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table
except ImportError:
    os.execvp("moto_server", ["moto_server"] + args)

_state = threading.local()


class _TableCopySkipped:
    """copy, except that a deep copy of a Table is skipped during a transaction."""

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, x, memo=None):
        if getattr(_state, "in_transaction", False) and isinstance(x, Table):
            return x
        return copy.deepcopy(x, memo)


def _backup(backend, transact_items):
    saved, seen = [], set()
    for entry in transact_items:
        try:
            op = next(iter(entry.values()))
            name = op["TableName"]
            table = backend.tables[name]
            if "Item" in op:
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            ident = (name, json.dumps(key, sort_keys=True))
            if ident in seen:
                continue
            seen.add(ident)
            current = backend.get_item(name, key)
            attrs = copy.deepcopy(current.to_json()["Attributes"]) if current else None
            saved.append((name, key, attrs))
        except Exception:
            # A malformed operation: moto itself answers it with its error.
            continue
    return saved


def _restore(backend, saved):
    for name, key, attrs in reversed(saved):
        if attrs is None:
            backend.delete_item(name, key)
        else:
            backend.put_item(name, attrs)


_transact = models.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    saved = _backup(self, transact_items)
    _state.in_transaction = True
    try:
        return _transact(self, transact_items)
    except Exception:
        _restore(self, saved)
        raise
    finally:
        _state.in_transaction = False


_all_items = Table.all_items


def all_items(self):
    only = getattr(_state, "partition", None)
    if only is not None and only[0] is self:
        return only[1]
    return _all_items(self)


_query = Table.query


def query(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or hash_key is None or not self.range_key_attr:
        return _query(self, hash_key, *args, **kwargs)
    part = self.items.get(hash_key) or {}
    _state.partition = (self, sorted(part.values(), key=lambda i: i.range_key))
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _state.partition = None


Table.all_items = all_items
Table.query = query
models.copy = _TableCopySkipped()
models.DynamoDBBackend.transact_write_items = transact_write_items
sys.exit(main(args))
