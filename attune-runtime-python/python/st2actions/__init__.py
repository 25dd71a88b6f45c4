"""StackStorm's older home of the action base class: ``st2actions.runners.pythonrunner.Action``
is ``st2common.runners.base_action.Action``. Nothing else of ``st2actions`` is provided."""
